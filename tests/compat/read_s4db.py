#!/usr/bin/python3
"""An independent reader of the s4db format (docs/format.md), written from the spec in
Python with zlib and python-snappy, as the Python s4db package reads it. Prints every live
key and value of a database directory as JSON lines of hex strings, sorted by key, after
checking every CRC and that the index points at whole entries with the right keys."""
import json
import struct
import sys
import zlib
from pathlib import Path

import snappy


def main(directory):
    root = Path(directory)
    raw = (root / "index.idx").read_bytes()
    version, next_file, count = struct.unpack(">BII", raw[:9])
    assert version == 1, "index version"
    pos, index = 9, {}
    for _ in range(count):
        (key_len,) = struct.unpack(">H", raw[pos:pos + 2])
        key = raw[pos + 2:pos + 2 + key_len]
        file_num, offset, length = struct.unpack(">IQI", raw[pos + 2 + key_len:pos + 18 + key_len])
        index[key] = (file_num, offset, length)
        pos += 18 + key_len
    assert pos == len(raw), "index length"
    files = {}
    for path in root.glob("data_*.s4db"):
        data = path.read_bytes()
        assert data[:5] == b"S4DB\x01", path
        files[struct.unpack(">I", data[5:9])[0]] = data
    out = []
    for key in sorted(index):
        file_num, offset, length = index[key]
        entry = files[file_num][offset:offset + length]
        flags, key_len, value_len = struct.unpack(">BII", entry[:9])
        assert 13 + key_len + value_len == length, "entry length"
        assert entry[9:9 + key_len] == key, "entry key"
        (crc,) = struct.unpack(">I", entry[-4:])
        assert zlib.crc32(entry[:-4]) == crc, "crc"
        stored = entry[9 + key_len:9 + key_len + value_len]
        value = snappy.uncompress(stored) if flags == 0 else stored
        out.append({"key": key.hex(), "value": value.hex()})
    print(json.dumps({"next_file": next_file, "items": out}))


if __name__ == "__main__":
    main(sys.argv[1])
