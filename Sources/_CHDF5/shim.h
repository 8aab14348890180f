#pragma once
#include <hdf5.h>

// HDF5 exposes its type, property-list class and file-access ids as macros over library globals
// (they need H5open first), which Swift cannot import. These functions return them as hid_t.
static inline hid_t headlab_h5t_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t headlab_h5t_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t headlab_h5t_native_int8(void) { return H5T_NATIVE_INT8; }
static inline hid_t headlab_h5t_native_uint8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t headlab_h5t_native_int16(void) { return H5T_NATIVE_INT16; }
static inline hid_t headlab_h5t_native_uint16(void) { return H5T_NATIVE_UINT16; }
static inline hid_t headlab_h5t_native_int32(void) { return H5T_NATIVE_INT32; }
static inline hid_t headlab_h5t_native_uint32(void) { return H5T_NATIVE_UINT32; }
static inline hid_t headlab_h5t_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t headlab_h5t_c_s1(void) { return H5T_C_S1; }
static inline hid_t headlab_h5t_ieee_f32le(void) { return H5T_IEEE_F32LE; }
static inline hid_t headlab_h5p_default(void) { return H5P_DEFAULT; }
static inline hid_t headlab_h5p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t headlab_h5p_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t headlab_h5p_link_create(void) { return H5P_LINK_CREATE; }
static inline hid_t headlab_h5s_all(void) { return H5S_ALL; }
static inline hsize_t headlab_h5s_unlimited(void) { return H5S_UNLIMITED; }
static inline unsigned headlab_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline unsigned headlab_h5f_acc_excl(void) { return H5F_ACC_EXCL; }
static inline unsigned headlab_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned headlab_h5f_acc_rdwr(void) { return H5F_ACC_RDWR; }

/// IEEE 754 binary16, little endian: HDF5 1.10 has no predefined half type.
/// (Its own float32->float16 conversion is wrong for some inputs; callers convert in Swift.)
static inline hid_t headlab_h5t_ieee_f16le(void) {
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    H5Tset_fields(t, 15, 10, 5, 0, 10);
    H5Tset_precision(t, 16);
    H5Tset_size(t, 2);
    H5Tset_ebias(t, 15);
    return t;
}

/// Silence HDF5's automatic error-stack printing; callers turn failures into Swift errors.
static inline void headlab_h5_silence_errors(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

#include <string.h>

static herr_t headlab_h5_find_system_error(unsigned n, const H5E_error2_t *e, void *data) {
    char *out = (char *)data;
    (void)n;
    if (out[0] == 0 && e->desc) {
        const char *p = strstr(e->desc, "error message = '");
        if (p) {
            p += strlen("error message = '");
            size_t i = 0;
            while (p[i] && p[i] != '\'' && i < 255) { out[i] = p[i]; i++; }
            out[i] = 0;
        }
    }
    return 0;
}

/// The operating-system message (strerror text, e.g. "No space left on device" or "File too
/// large") that HDF5's file driver recorded on the current error stack, or "" when the last
/// failure was not a failed system call. `out` holds at least 256 bytes.
static inline void headlab_h5_system_error(char *out) {
    out[0] = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, headlab_h5_find_system_error, out);
}
