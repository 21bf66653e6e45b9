"""A minimal GGUF version 3 writer and key/value reader (deepseek2-gguf.md §1), standard library
and numpy only.

Layout written: magic, version 3, tensor count, key/value count; the key/value records; one info
record per tensor (name, dims ne0 first, type, offset into the data section); padding to the
32-byte alignment; the tensor data, each tensor padded to 32 bytes.
"""
import struct

import numpy as np

ALIGNMENT = 32
UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY = 4, 5, 6, 7, 8, 9
TYPE_F32, TYPE_F16, TYPE_Q8_0 = 0, 1, 8
_SCALAR_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def _string(text):
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def read_kv_records(path):
    """[(key, raw record bytes)] of a GGUF file's key/value section, to copy records verbatim."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"GGUF":
        raise ValueError("%s: not a GGUF file" % path)
    _, _, n_kv = struct.unpack_from("<IQQ", data, 4)
    pos = 24
    records = []

    def skip_value(pos, value_type):
        if value_type == STRING:
            (n,) = struct.unpack_from("<Q", data, pos)
            return pos + 8 + n
        if value_type == ARRAY:
            element_type, count = struct.unpack_from("<IQ", data, pos)
            pos += 12
            if element_type == STRING:
                for _ in range(count):
                    (n,) = struct.unpack_from("<Q", data, pos)
                    pos += 8 + n
                return pos
            return pos + count * _SCALAR_SIZES[element_type]
        return pos + _SCALAR_SIZES[value_type]

    for _ in range(n_kv):
        start = pos
        (n,) = struct.unpack_from("<Q", data, pos)
        key = data[pos + 8: pos + 8 + n].decode("utf-8")
        pos += 8 + n
        (value_type,) = struct.unpack_from("<I", data, pos)
        pos = skip_value(pos + 4, value_type)
        records.append((key, data[start:pos]))
    return records


def quantize_q8_0(values):
    """Q8_0 blocks of a float32 array whose last dimension is a multiple of 32, as ggml's reference
    quantizer makes them: d = max|x| / 127 (stored f16), q = round-half-away(x / d).
    Returns (bytes, dequantized float32 array)."""
    x = np.ascontiguousarray(values, dtype=np.float32).reshape(-1, 32)
    amax = np.abs(x).max(axis=1)
    d = amax / np.float32(127.0)
    inv = np.where(d > 0, np.float32(1.0) / np.where(d > 0, d, 1), 0).astype(np.float32)
    scaled = x * inv[:, None]
    q = (np.sign(scaled) * np.floor(np.abs(scaled) + np.float32(0.5))).astype(np.int8)
    d16 = d.astype(np.float16)
    blocks = np.empty(x.shape[0], dtype=[("d", "<f2"), ("qs", "i1", (32,))])
    blocks["d"] = d16
    blocks["qs"] = q
    dequant = (q.astype(np.float32) * d16.astype(np.float32)[:, None]).reshape(values.shape)
    return blocks.tobytes(), dequant


class Writer:
    def __init__(self):
        self.kv = []          # raw records
        self.tensors = []     # (name, ne, type, bytes)

    def raw(self, record):
        self.kv.append(record)

    def _key(self, key, value_type, payload):
        self.kv.append(_string(key) + struct.pack("<I", value_type) + payload)

    def string(self, key, value):
        self._key(key, STRING, _string(value))

    def uint32(self, key, value):
        self._key(key, UINT32, struct.pack("<I", value))

    def float32(self, key, value):
        self._key(key, FLOAT32, struct.pack("<f", value))

    def boolean(self, key, value):
        self._key(key, BOOL, struct.pack("<?", value))

    def tensor(self, name, array, tensor_type):
        """array: numpy float32 of PyTorch shape (..., ne1, ne0); written as F32, F16 or Q8_0.
        Returns the values as the file holds them (decoded to float32)."""
        array = np.ascontiguousarray(array, dtype=np.float32)
        ne = list(reversed(array.shape))
        if tensor_type == TYPE_F32:
            data, stored = array.tobytes(), array
        elif tensor_type == TYPE_F16:
            half = array.astype(np.float16)
            data, stored = half.tobytes(), half.astype(np.float32)
        elif tensor_type == TYPE_Q8_0:
            if ne[0] % 32:
                raise ValueError("%s: ne0 = %d is not a multiple of 32" % (name, ne[0]))
            data, stored = quantize_q8_0(array)
        else:
            raise ValueError("unsupported tensor type %d" % tensor_type)
        self.tensors.append((name, ne, tensor_type, data))
        return stored

    def write(self, path):
        infos, offset = [], 0
        for name, ne, tensor_type, data in self.tensors:
            infos.append(_string(name) + struct.pack("<I", len(ne)) + struct.pack("<%dQ" % len(ne), *ne) +
                         struct.pack("<IQ", tensor_type, offset))
            offset += (len(data) + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT
        with open(path, "wb") as out:
            out.write(b"GGUF" + struct.pack("<IQQ", 3, len(self.tensors), len(self.kv)))
            for record in self.kv:
                out.write(record)
            for info in infos:
                out.write(info)
            out.write(b"\0" * (-out.tell() % ALIGNMENT))
            for _, _, _, data in self.tensors:
                out.write(data)
                out.write(b"\0" * (-len(data) % ALIGNMENT))
