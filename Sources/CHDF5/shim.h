// The few HDF5 calls keypoints makes (reading float datasets and walking groups), as functions:
// HDF5's constants (H5P_DEFAULT, H5T_NATIVE_FLOAT, H5S_ALL, ...) are macros Swift cannot import.
#include <hdf5/serial/hdf5.h>

/// Turns off HDF5's automatic error-stack printing; callers report errors themselves.
static inline void kp_h5_silence(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/// 1 if `path` is an HDF5 file, 0 if not, negative if it cannot be read.
static inline int kp_h5_is_hdf5(const char *path) { return (int)H5Fis_hdf5(path); }

/// Opens `path` read-only; negative on failure.
static inline hid_t kp_h5_open(const char *path) { return H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT); }

/// The number of links (members) in the group `group`; negative on failure.
static inline long long kp_h5_link_count(hid_t group) {
    H5G_info_t info;
    if (H5Gget_info(group, &info) < 0) return -1;
    return (long long)info.nlinks;
}

/// Copies the name of the `index`-th link of `group` (name order) into `buffer`; returns the
/// name's full length (which may exceed `size`), negative on failure.
static inline long long kp_h5_link_name(hid_t group, unsigned long long index, char *buffer, size_t size) {
    return (long long)H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, (hsize_t)index, buffer, size, H5P_DEFAULT);
}

/// 1 if the member `name` of `group` is a group, 2 if a dataset, 0 otherwise, negative on failure.
static inline int kp_h5_member_kind(hid_t group, const char *name) {
    hid_t object = H5Oopen(group, name, H5P_DEFAULT);
    if (object < 0) return -1;
    H5I_type_t type = H5Iget_type(object);
    H5Oclose(object);
    return type == H5I_GROUP ? 1 : (type == H5I_DATASET ? 2 : 0);
}

static inline hid_t kp_h5_open_group(hid_t group, const char *name) { return H5Gopen2(group, name, H5P_DEFAULT); }
static inline hid_t kp_h5_open_dataset(hid_t group, const char *name) { return H5Dopen2(group, name, H5P_DEFAULT); }

/// Writes the dataset's dimensions into `dims` (room for `capacity`); returns the rank, negative on failure.
static inline int kp_h5_dataset_shape(hid_t dataset, unsigned long long *dims, int capacity) {
    hid_t space = H5Dget_space(dataset);
    if (space < 0) return -1;
    int rank = H5Sget_simple_extent_ndims(space);
    if (rank >= 0 && rank <= capacity) {
        hsize_t d[32];
        H5Sget_simple_extent_dims(space, d, NULL);
        for (int i = 0; i < rank; i++) dims[i] = (unsigned long long)d[i];
    } else if (rank > capacity) {
        rank = -2;
    }
    H5Sclose(space);
    return rank;
}

/// 1 if the dataset holds floating-point numbers (of any width), 0 if not, negative on failure.
static inline int kp_h5_dataset_is_float(hid_t dataset) {
    hid_t type = H5Dget_type(dataset);
    if (type < 0) return -1;
    int result = H5Tget_class(type) == H5T_FLOAT ? 1 : 0;
    H5Tclose(type);
    return result;
}

/// Reads the whole dataset, converted to native float, into `values`; negative on failure.
static inline int kp_h5_read_floats(hid_t dataset, float *values) {
    return (int)H5Dread(dataset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values);
}

static inline void kp_h5_close_group(hid_t group) { H5Gclose(group); }
static inline void kp_h5_close_dataset(hid_t dataset) { H5Dclose(dataset); }
static inline void kp_h5_close_file(hid_t file) { H5Fclose(file); }
