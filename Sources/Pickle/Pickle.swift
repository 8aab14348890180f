// Pickle: reads Python pickles (protocols 0–5) and numpy .npy/.npz files without Python.
//
// - `Unpickler`: the VM. `Unpickler.load(contentsOf:)` for one pickle; an `Unpickler` value
//   walks several pickles in a row plus raw bytes (torch's legacy format), with a
//   `persistentLoad` callback for BINPERSID.
// - `PickleValue`: the decoded object; numpy arrays, dtypes, scipy sparse matrices are typed.
// - `PickleField`: a value with its file and key path, whose typed accessors
//   (`floatArray`, `int32Array`, `key`) throw errors naming both.
// - `NumpyFile`: .npy (numeric or pickled object arrays) and .npz (zip, stored or deflated).
