// An empty translation unit: a kernel library without kernels yet still links.
