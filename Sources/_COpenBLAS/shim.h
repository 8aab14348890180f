#pragma once
#include <cblas.h>
// mallopt: NNCore keeps freed activations in the heap (keepFreedMemoryForReuse).
#include <malloc.h>
