"""Shared by the fixture scripts: a minimal safetensors writer (no safetensors package needed)."""
import json
import os
import struct

import numpy as np


def save_safetensors(path, tensors, metadata):
    """Writes `tensors` (torch tensors or arrays) as F32, names sorted, header padded to 8 bytes."""
    header, blobs, offset = {}, [], 0
    for key in sorted(tensors):
        t = tensors[key]
        a = t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)
        a = np.ascontiguousarray(a.astype("<f4"))
        b = a.tobytes()
        header[key] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    h = json.dumps(header, sort_keys=True).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    print(f"{os.path.basename(path)}: {8 + len(h) + offset} bytes, {len(tensors)} tensors")
