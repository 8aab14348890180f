"""Read a HeadLab corpus from Python: a PyTorch-style Dataset over the HDF5 file.

    from headlab_dataset import HeadLabCorpus
    ds = HeadLabCorpus("out/corpus.h5", channels=("rgb", "normals_model", "uv", "skin_visible"))
    sample = ds[0]            # dict of numpy arrays (wrap in torch.from_numpy as needed)
    loader = torch.utils.data.DataLoader(ds, batch_size=8, num_workers=4)

The file is opened lazily inside each worker (h5py handles must not cross a fork), and only rows
whose `complete` flag is set are exposed, so a corpus that is still being written can be read.
Needs numpy and h5py only; torch is optional.
"""
import h5py
import numpy as np

IMAGE_CHANNELS = ("rgb", "coverage", "foreground", "skin_visible", "skin_amodal", "segmentation",
                  "normals_camera", "normals_model", "uv", "depth", "triangle", "barycentric",
                  "hair_coverage", "beard_coverage", "eyebrows_coverage", "eyelashes_coverage", "normals_amodal", "uv_amodal",
                  "glasses_coverage", "headwear_coverage", "facewear_coverage", "clothing_coverage")
PER_SAMPLE = ("landmarks_2d", "landmarks_visible", "landmarks_3d", "intrinsics", "distortion", "extrinsics",
              "head_to_world", "identity", "expression", "joint_rotations", "subject", "view", "index")


class HeadLabCorpus:
    def __init__(self, path, channels=IMAGE_CHANNELS, values=PER_SAMPLE, float32=True):
        self.path, self.channels, self.values, self.float32 = path, tuple(channels), tuple(values), float32
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != "headlab-corpus":
                raise ValueError(f"{path}: not a HeadLab corpus")
            self.rows = np.flatnonzero(f["complete"][:] == 1)
            self.class_names = [s for s in f["class_names"].asstr()[:]]
            self.attrs = dict(f.attrs)
        self._file = None

    def __len__(self):
        return len(self.rows)

    def _open(self):
        if self._file is None:  # first access in this process (or worker)
            self._file = h5py.File(self.path, "r")
        return self._file

    def __getitem__(self, i):
        f, row = self._open(), self.rows[i]
        out = {}
        for name in self.channels + self.values:
            a = f[name][row]
            if self.float32 and a.dtype == np.float16:
                a = a.astype(np.float32)
            out[name] = a
        return out

    def __getstate__(self):  # DataLoader pickles the dataset into workers: never the open file
        state = dict(self.__dict__)
        state["_file"] = None
        return state
