"""ML inference: a small torch model, built in code (no weights to download), finds the obstacle.

The model is a fixed convolutional "brightness detector" with a spatial soft-argmax head: it
runs like any CPU torch model (conv, activation, softmax) but needs no training, so its output
can be checked against where the camera drew the obstacle.
"""

from __future__ import annotations

import gc
import time
from typing import Any

import horus
import numpy as np
import torch
from torch import nn

from .topics import CAMERA, CAMERA_TOPIC, DETECTIONS, FRAME_SHAPE


class ObstacleNet(nn.Module):
    """frame (N, 3, H, W) float in [0, 1] -> (N, 3): row, col (pixels), confidence."""

    def __init__(self, height: int, width: int) -> None:
        super().__init__()
        self.gray = nn.Conv2d(3, 1, kernel_size=1, bias=False)
        self.blur = nn.Conv2d(1, 1, kernel_size=5, padding=2, bias=False)
        with torch.no_grad():
            self.gray.weight.copy_(torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1))
            self.blur.weight.fill_(1.0 / 25.0)
        rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
        self.register_buffer("rows", rows.reshape(-1).float())
        self.register_buffer("cols", cols.reshape(-1).float())
        self.temperature = 40.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        heat = torch.relu(self.blur(self.gray(x)) - 0.3).flatten(1)  # (N, H*W)
        weights = torch.softmax(heat * self.temperature, dim=1)
        row = weights @ self.rows
        col = weights @ self.cols
        confidence = heat.amax(dim=1).clamp(0, 1)
        return torch.stack([row, col, confidence], dim=1)


def build_model() -> ObstacleNet:
    torch.manual_seed(0)
    model = ObstacleNet(FRAME_SHAPE[0], FRAME_SHAPE[1]).eval()
    return model


def detect(model: ObstacleNet, frame: np.ndarray) -> tuple[float, float, float]:
    with torch.inference_mode():
        x = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1).unsqueeze(0).float() / 255.0
        row, col, conf = model(x)[0].tolist()
    return row, col, conf


def make_inference(rate: float = 15.0) -> horus.Node:
    state: dict[str, Any] = {}

    def init(node: horus.Node) -> None:
        torch.set_num_threads(1)  # one core for inference: the 1 kHz loop keeps the other
        gc.set_threshold(1500, 15, 15)  # allocates per frame: fewer, not no, collections
        state["model"] = build_model()
        node.log_info(f"ObstacleNet ready, torch {torch.__version__}, {torch.get_num_threads()} thread(s)")

    def tick(node: horus.Node) -> None:
        msg = None
        while node.has_msg(CAMERA):  # only the newest frame matters
            msg = node.recv(CAMERA)
        if msg is None:
            return
        start = time.perf_counter()
        row, col, conf = detect(state["model"], msg["frame"])
        h, w, _ = FRAME_SHAPE
        node.send(
            DETECTIONS,
            {
                "seq": msg["seq"],
                "stamp_ns": msg["stamp_ns"],
                # normalised to [0, 1] x [0, 1] of the scene ahead
                "obstacles": [[col / w, row / h, 0.12]] if conf > 0.2 else [],
                "latency_ms": (time.perf_counter() - start) * 1e3,
            },
        )

    # A bad frame must not take perception down: skip it, and suspend the node if it keeps failing.
    return horus.Node(
        name="inference", tick=tick, init=init, rate=rate, subs=CAMERA_TOPIC, pubs=[DETECTIONS],
        failure_policy="skip", compute=True,
    )  # fmt: skip
