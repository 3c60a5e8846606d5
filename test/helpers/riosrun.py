"""
Runs one RIOS job for riots' differential suite (test/integration/riosparity.test.ts).

The job comes as JSON on stdin; the result goes to stdout as JSON. RIOS itself is imported from
the folder named by RIOTS_RIOS_SOURCE and is not modified; rioscompat.py, imported first, supplies
the two things RIOS 2.0.9 expects of newer GDAL and numpy than Debian 12 has.

Job kinds:
  apply        {fn, inputs, outputs, controls: [[setter, args, kwargs]], otherArgs, concurrency}
  concurrency  {cases: [kwargs, ...]}  -> which ConcurrencyStyle accepts, and RIOS's message
  calcstats    {argv}                  -> runs RIOS's rioscalcstats command line
  printstats   {argv}                  -> riosprintstats' output
The user functions below mirror test/helpers/riosjobs.ts one for one.
"""
import json
import os
import sys

import numpy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rioscompat  # noqa: E402,F401  (RIOS importable here: see rioscompat.py)
from rios import applier  # noqa: E402


# ---------------------------------------------------------------- user functions

def mean(info, inputs, outputs, other):
    outputs.out = ((inputs.a.astype(numpy.float32) + inputs.b) / 2).astype(numpy.float32)


def diff(info, inputs, outputs, other):
    outputs.out = (inputs.a.astype(numpy.float32) - inputs.b).astype(numpy.float32)


def scaled(info, inputs, outputs, other):
    outputs.out = (inputs.b * 2).astype(numpy.int16)


def classes(info, inputs, outputs, other):
    outputs.out = ((inputs.b // 10) % 7).astype(numpy.uint8)


def copy(info, inputs, outputs, other):
    outputs.out = inputs.a.copy()


def burnt(info, inputs, outputs, other):
    outputs.out = inputs.v.copy()


def total(info, inputs, outputs, other):
    other.total += float(inputs.a.astype(numpy.float64).sum())
    other.blocks += 1
    outputs.out = inputs.a.copy()


def record(info, inputs, outputs, other):
    (xsize, ysize) = info.getBlockSize()
    tl = info.getTransform()
    # a point inside the block (its centre pixel) and one beyond it
    (xs, ys) = info.getBlockCoordArrays()
    cx = float(xs[ysize // 2, xsize // 2])
    cy = float(ys[ysize // 2, xsize // 2])
    inside = info.getPixRowColBlock(cx, cy)
    other.records.append({
        'blockCount': list(info.getBlockCount()),
        'totalBlocks': list(info.getTotalBlocks()),
        'percent': info.getPercent(),
        'blockSize': [xsize, ysize],
        'windowSize': list(info.getWindowSize()),
        'overlap': info.getOverlapSize(),
        'totalSize': list(info.getTotalSize()),
        'pixelSize': [float(v) for v in info.getPixelSize()],
        'first': bool(info.isFirstBlock()),
        'last': bool(info.isLastBlock()),
        'centre': [cx, cy],
        'transform': [float(v) for v in tl],
        'inside': [None if v is None else int(v) for v in inside],
        'outside': [None if v is None else int(v) for v in info.getPixRowColBlock(tl[0] - 1000 * tl[1], tl[3])],
        'colRow': None if inside[0] is None else [int(v) for v in info.getPixColRow(inside[1], inside[0])],
        'nodataB': _num(info.getNoDataValueFor(inputs.b)),
        'filenameA': os.path.basename(info.getFilenameFor(inputs.a)),
        'shape': list(inputs.a.shape),
    })
    outputs.out = inputs.a.copy()


def _num(v):
    return None if v is None else float(v)


FUNCTIONS = {f.__name__: f for f in (mean, diff, scaled, classes, copy, burnt, total, record)}


# ---------------------------------------------------------------- jobs

def run_apply(job):
    infiles = applier.FilenameAssociations()
    for (name, path) in job['inputs'].items():
        setattr(infiles, name, path)
    outfiles = applier.FilenameAssociations()
    for (name, path) in job['outputs'].items():
        setattr(outfiles, name, path)
    controls = applier.ApplierControls()
    controls.setProgress(None)
    for (setter, args, kwargs) in job.get('controls', []):
        if setter == 'setFootprintType':
            args = [getattr(applier, args[0])]
        getattr(controls, setter)(*args, **kwargs)
    other = applier.OtherInputs()
    for (k, v) in job.get('otherArgs', {}).items():
        setattr(other, k, v)
    applier.apply(FUNCTIONS[job['fn']], infiles, outfiles, other, controls=controls)
    return {'otherArgs': {k: getattr(other, k) for k in job.get('otherArgs', {})}}


def run_concurrency(job):
    """Which styles RIOS accepts; an accepted CW_THREADS style is also run on job['input']."""
    results = []
    for kwargs in job['cases']:
        if 'computeWorkerKind' in kwargs:
            kwargs['computeWorkerKind'] = getattr(applier, kwargs['computeWorkerKind'])
        try:
            style = applier.ConcurrencyStyle(**kwargs)
        except (ValueError, TypeError) as e:
            results.append({'accepted': False, 'message': str(e)})
            continue
        result = {'accepted': True, 'message': ''}
        if kwargs.get('computeWorkerKind') == applier.CW_THREADS:
            infiles = applier.FilenameAssociations()
            infiles.a = job['input']
            outfiles = applier.FilenameAssociations()
            outfiles.out = job['output']
            controls = applier.ApplierControls()
            controls.setProgress(None)
            controls.setOutputDriverName('GTiff')
            controls.setConcurrencyStyle(style)
            try:
                applier.apply(copy, infiles, outfiles, applier.OtherInputs(), controls=controls)
                result['applied'] = 'ran'
            except Exception as e:
                result['applied'] = '%s: %s' % (type(e).__name__, e)
        results.append(result)
    return {'results': results}


def run_calcstats(job):
    from rios.cmdline import rioscalcstats
    sys.argv = ['rioscalcstats'] + job['argv']
    return {'code': rioscalcstats.main()}


def run_printstats(job):
    import contextlib
    import io
    from rios.cmdline import riosprintstats
    sys.argv = ['riosprintstats'] + job['argv']
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        riosprintstats.main()
    return {'stdout': buf.getvalue()}


def main():
    job = json.load(sys.stdin)
    kind = job['kind']
    kinds = {'apply': run_apply, 'concurrency': run_concurrency, 'calcstats': run_calcstats, 'printstats': run_printstats}
    result = kinds[kind](job)
    json.dump(result, sys.stdout)


if __name__ == '__main__':
    main()
