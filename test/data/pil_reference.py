# The reference for test/data/image_files.test.ts: Debian's PIL (python3-pil). Reads a JSON list
# of [path, mode] from stdin; prints, per file, PIL's Image.open(path).convert(mode) as
# {width, height, data: base64 of the 8-bit pixels} (or {error}), one JSON list.
import base64
import json
import sys

from PIL import Image

out = []
for path, mode in json.load(sys.stdin):
    try:
        with Image.open(path) as im:
            c = im.convert(mode)
            out.append({'width': c.width, 'height': c.height, 'data': base64.b64encode(c.tobytes()).decode()})
    except Exception as e:  # the test compares which files PIL refuses too
        out.append({'error': str(e)})
print(json.dumps(out))
