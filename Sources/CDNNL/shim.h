// oneDNN's C API (Debian libdnnl-dev 2.6, no pkg-config file) plus the one OpenMP call we need.
#include <oneapi/dnnl/dnnl.h>

// From libgomp, which Debian's oneDNN uses as its threading runtime; declared here so that no
// compiler-private omp.h has to be on the include path.
extern void omp_set_num_threads(int num_threads);
extern int omp_get_max_threads(void);
