#!/usr/bin/python3
"""An independent reader of the s4db formats 1 and 2 (docs/format.md), written from the
spec in Python with zlib and python-snappy, as the Python s4db package reads them. Prints
every live key and value of a database directory as JSON of hex strings, sorted by key,
after checking every CRC (the index's too, in format 2), that the index points at whole
entries with the right keys, that no unknown flag bit is set, and that flag 0x04 is set
exactly on values that are not UTF-8."""
import re
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
    assert version in (1, 2), "index version"
    if version == 2:
        (crc,) = struct.unpack(">I", raw[-4:])
        raw = raw[:-4]
        assert zlib.crc32(raw) == crc, "index crc"
    fixed = ">IQI" if version == 1 else ">QQI"
    fixed_size = struct.calcsize(fixed)
    pos, index = 9, {}
    for _ in range(count):
        (key_len,) = struct.unpack(">H", raw[pos:pos + 2])
        key = raw[pos + 2:pos + 2 + key_len]
        file_id, offset, length = struct.unpack(fixed, raw[pos + 2 + key_len:pos + 2 + key_len + fixed_size])
        index[key] = (file_id, offset, length)
        pos += 2 + fixed_size + key_len
    assert pos == len(raw), "index length"
    files = {}
    for path in root.glob("data_*.s4db"):
        m = re.fullmatch(r"data_(?:([0-9a-f]{8})_)?(\d{6,})\.s4db", path.name)
        assert m, path
        writer, seq = int(m.group(1) or "0", 16), int(m.group(2))
        data = path.read_bytes()
        assert data[:4] == b"S4DB" and data[4] in (1, 2), path
        assert struct.unpack(">I", data[5:9])[0] == seq & 0xFFFFFFFF, path
        files[writer << 32 | seq] = data
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
        assert flags & ~0x07 == 0 and not flags & 0x01, "flags"
        value = stored if flags & 0x02 else snappy.uncompress(stored)
        try:
            value.decode("utf-8")
            text = True
        except UnicodeDecodeError:
            text = False
        assert version == 1 or bool(flags & 0x04) != text, "flag 0x04 marks exactly the values that are not UTF-8"
        out.append({"key": key.hex(), "value": value.hex()})
    print(json.dumps({"next_file": next_file, "items": out}))


if __name__ == "__main__":
    main(sys.argv[1])
