"""
Importing this module makes RIOS (from the folder named by RIOTS_RIOS_SOURCE, unmodified)
importable on Debian 12's GDAL 3.6 and numpy 1.24, by supplying the two things RIOS 2.0.9 expects
of newer ones: osr.SpatialReference(epsg=N) (GDAL 3.6 has no such keyword) and the numpy.dtypes
module (numpy 1.24 has none; RIOS only looks for StringDType in it). Used by the differential
suite (riosrun.py) and the benchmarks (bench/lib/rios-job.py).
"""
import os
import sys
import types

import numpy
from osgeo import gdal, osr

sys.path.insert(0, os.environ['RIOTS_RIOS_SOURCE'])
gdal.UseExceptions()


class _SpatialReference(osr.SpatialReference):
    def __init__(self, *args, epsg=None, **kwargs):
        super().__init__(*args, **kwargs)
        if epsg is not None:
            self.ImportFromEPSG(epsg)


osr.SpatialReference = _SpatialReference
if not hasattr(numpy, 'dtypes'):
    numpy.dtypes = types.SimpleNamespace()
