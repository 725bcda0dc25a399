// CZlib: shim over the system header <zlib.h> (zlib1g-dev, which libpng-dev already requires):
// gzip decompression for the gzipped IDX files of Debian's dataset-fashion-mnist.
#include <zlib.h>
