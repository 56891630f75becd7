"""Infrastructure with no knowledge of speech: the package's errors, atomic file writes,
run folders, options, packaged files and Dask. The lowest layer: imports nothing else from the package.
"""
