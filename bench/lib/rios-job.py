"""
One RIOS run of W1 or W3 for bench/vs-rios.ts, the same jobs as bench/lib/vsrios-run.mjs:
W1 the mean of A and B, W3 A - B with B resampled bilinearly onto A's grid; GTiff output with
RIOS's defaults otherwise (statistics, histogram, pyramids). RIOS is imported from
RIOTS_RIOS_SOURCE, unmodified, through test/helpers/rioscompat.py. Prints JSON {applySeconds, importSeconds}.
usage: python3 rios-job.py w1|w3 A B OUT
"""
import json
import os
import sys
import time

t0 = time.perf_counter()
import numpy

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'helpers'))
import rioscompat  # noqa: E402,F401  (RIOS importable on Debian 12: see test/helpers/rioscompat.py)
from rios import applier  # noqa: E402

job, a, b, out = sys.argv[1:5]


def w1(info, inputs, outputs):
    outputs.out = ((inputs.a + inputs.b) * numpy.float32(0.5)).astype(numpy.float32)


def w3(info, inputs, outputs):
    outputs.out = (inputs.a - inputs.b).astype(numpy.float32)


t1 = time.perf_counter()
infiles = applier.FilenameAssociations()
infiles.a = a
infiles.b = b
outfiles = applier.FilenameAssociations()
outfiles.out = out
controls = applier.ApplierControls()
controls.setOutputDriverName('GTiff')
if job == 'w3':
    controls.setReferenceImage(a)
    controls.setResampleMethod('bilinear')
applier.apply(w1 if job == 'w1' else w3, infiles, outfiles, controls=controls)
print(json.dumps({'applySeconds': time.perf_counter() - t1, 'importSeconds': t1 - t0}))
