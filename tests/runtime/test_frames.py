"""Image, DepthImage and PointCloud as upstream HORUS has them, over numpy, and on topics."""

from __future__ import annotations

import horus
import numpy as np
import pytest
from horus import DecodeError
from horus.messaging import codec
from horus_procs import Py, go, wait_line


def test_frames_are_numpy_arrays_with_upstreams_names() -> None:
    image = horus.Image(480, 640)
    assert (image.height, image.width, image.channels, image.encoding, image.step) == (480, 640, 3, "rgb8", 1920)
    image.set_pixel(10, 20, [255, 0, 7])
    assert image.to_numpy()[20, 10].tolist() == [255, 0, 7] and image.pixel(10, 20) == [255, 0, 7]
    assert horus.Image.from_numpy(np.zeros((4, 5), dtype=np.uint16)).encoding == "mono16"
    depth = horus.DepthImage.from_numpy(np.array([[0, 1500], [2500, 0]], dtype=np.uint16))
    assert depth.is_millimeters() and depth.get_depth(1, 0) == 1.5
    assert depth.depth_statistics() == (1.5, 2.5, 2.0)  # zero is "no reading"
    cloud = horus.PointCloud.from_numpy(np.arange(12, dtype=np.float32).reshape(3, 4))
    assert (cloud.point_count, cloud.has_intensity(), cloud.point_at(1)) == (3, True, [4.0, 5.0, 6.0, 7.0])
    with pytest.raises(ValueError, match="Image encoding 'yuv' is not one of"):
        horus.Image(2, 2, "yuv")


def test_a_frame_comes_back_the_same_class_over_the_received_bytes() -> None:
    image = horus.Image.from_numpy(np.random.default_rng(2).integers(0, 255, (480, 640, 3), dtype=np.uint8))
    image.set_frame_id("camera_front")
    image.set_timestamp_ns(123)
    buf = bytearray(codec.encode_bytes(image))
    got = codec.decode(buf)
    assert type(got) is horus.Image and got == image and got.frame_id == "camera_front"
    assert np.shares_memory(got.to_numpy(), np.frombuffer(buf, dtype=np.uint8))  # no copy out of the buffer


def test_a_frame_whose_metadata_does_not_fit_its_array_is_refused() -> None:
    buf = bytearray(codec.encode_bytes(horus.Image(2, 2, "rgb8")))
    at = buf.index(b"rgb8")
    buf[at : at + 4] = b"rgba"  # no such encoding: refused, not guessed
    with pytest.raises(DecodeError, match="Image encoding 'rgba' is not one of"):
        codec.decode(buf)
    buf[at : at + 4] = b"bgr8"  # another 3-channel encoding fits the same array
    assert codec.decode(buf).encoding == "bgr8"


PUBLISHER = """
import sys, numpy as np, horus
t = horus.Topic("camera.rgb", max_msg_size=640 * 480 * 3)
print("ready", flush=True)
sys.stdin.readline()
img = horus.Image.from_numpy(np.full((480, 640, 3), 9, dtype=np.uint8))
img.set_frame_id("front")
t.send(img)
print("done", flush=True)
"""


def test_a_vga_image_crosses_processes_on_a_topic(ns: str, py: Py) -> None:
    sub = horus.Topic("camera.rgb", max_msg_size=640 * 480 * 3)
    pub = py.start(PUBLISHER, stdin=-1)
    wait_line(pub, "ready")
    go(pub)
    got = sub.recv(timeout=10)
    wait_line(pub, "done")
    assert type(got) is horus.Image and (got.height, got.width, got.frame_id) == (480, 640, "front")
    assert int(got.to_numpy().sum()) == 9 * 480 * 640 * 3


def test_an_occupancy_grid_as_upstream_has_it_travels_whole() -> None:
    grid = horus.OccupancyGrid(width=10, height=5, resolution=0.1)
    assert len(grid.data) == 50 and grid.data[0] == -1  # unknown until seen
    assert grid.set_occupancy(5, 2, 100) and not grid.set_occupancy(10, 0, 0)
    grid.set_occupancy(0, 0, 0)
    assert grid.is_free(0.05, 0.05) and grid.is_occupied(0.55, 0.25) and not grid.is_free(0.55, 0.25)
    got = codec.decode(bytearray(codec.encode_bytes(grid)))
    assert type(got) is horus.OccupancyGrid and got == grid and got.occupancy(5, 2) == 100 and got.resolution == 0.1


def test_a_compressed_image_keeps_its_bytes_and_format() -> None:
    jpeg = horus.CompressedImage(format="png", data=[0x89, 0x50, 0x4E, 0x47], width=320, height=240)
    got = codec.decode(bytearray(codec.encode_bytes(jpeg)))
    assert type(got) is horus.CompressedImage and got.data == bytes([0x89, 0x50, 0x4E, 0x47])
    assert (got.format, got.width, got.height, got.data_len()) == ("png", 320, 240, 4)
    assert horus.CompressedImage().data == b""
