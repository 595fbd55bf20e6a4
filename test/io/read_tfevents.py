"""Reads a TensorBoard event file independently of spottune: the TFRecord framing with its
masked CRC-32C checked (a bitwise CRC, not the table-driven one under test), and each record
parsed by Debian's protobuf runtime from the Event/Summary schema (declared here from
tensorflow/core/util/event.proto and summary.proto). Prints JSON: [{wall_time, step,
file_version?, scalars?}]."""
import json
import struct
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def schema():
    F = descriptor_pb2.FieldDescriptorProto
    f = descriptor_pb2.FileDescriptorProto(name="event.proto", package="tensorboard")
    value = f.message_type.add(name="SummaryValue")
    value.field.add(name="tag", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    value.field.add(name="simple_value", number=2, type=F.TYPE_FLOAT, label=F.LABEL_OPTIONAL)
    summary = f.message_type.add(name="Summary")
    summary.field.add(name="value", number=1, type=F.TYPE_MESSAGE, type_name=".tensorboard.SummaryValue", label=F.LABEL_REPEATED)
    event = f.message_type.add(name="Event")
    event.field.add(name="wall_time", number=1, type=F.TYPE_DOUBLE, label=F.LABEL_OPTIONAL)
    event.field.add(name="step", number=2, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL)
    event.field.add(name="file_version", number=3, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL, oneof_index=0)
    event.field.add(name="summary", number=5, type=F.TYPE_MESSAGE, type_name=".tensorboard.Summary", label=F.LABEL_OPTIONAL, oneof_index=0)
    event.oneof_decl.add(name="what")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.MessageFactory(pool).GetPrototype(pool.FindMessageTypeByName("tensorboard.Event"))


def main(path):
    Event = schema()
    data = open(path, "rb").read()
    out, pos = [], 0
    while pos < len(data):
        header = data[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (len_crc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        assert len_crc == masked(header), f"record at {pos}: bad length CRC"
        body = data[pos + 12:pos + 12 + length]
        (body_crc,) = struct.unpack("<I", data[pos + 12 + length:pos + 16 + length])
        assert body_crc == masked(body), f"record at {pos}: bad data CRC"
        pos += 16 + length
        e = Event()
        e.ParseFromString(body)
        item = {"wall_time": e.wall_time, "step": e.step}
        if e.WhichOneof("what") == "file_version":
            item["file_version"] = e.file_version
        else:
            item["scalars"] = {v.tag: v.simple_value for v in e.summary.value}
        out.append(item)
    print(json.dumps(out))


if __name__ == "__main__":
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value (RFC 3720, B.4)
    main(sys.argv[1])
