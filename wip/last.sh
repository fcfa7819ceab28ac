#!/bin/bash
# metrics of the newest summary of a namespace
ns=${1:-affectvlm}
f=$(ls -d data/08_reporting/$ns/summary.json/* | sort | tail -1)
python3 -c "
import json,sys;d=json.load(open('$f/summary.json'));print('$f', {k:round(v,3) for k,v in d['metrics'].items() if 'recall' not in k and 'f1' not in k})"
