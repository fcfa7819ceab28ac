"""The script ``facevlm app`` hands to ``streamlit run`` (Streamlit runs a file, not a function)."""

from facevlm.app.page import main

main()
