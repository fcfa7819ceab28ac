"""Kedro pipelines: declarative ``pipeline.py`` + thin ``nodes.py`` around the library modules."""
