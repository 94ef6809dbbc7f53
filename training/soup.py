"""Uniform weight averaging ("model soup") of checkpoints fine-tuned from one initialisation.

Wortsman et al. (ICML 2022) show that averaging the weights of models fine-tuned from the same
pretrained start, with different hyperparameters, often beats each of them at no inference
cost: the result is one network of the same size and speed. It only works when the runs share
their initialisation (same backbone weights, same seed for the freshly initialised head) and
architecture; this module checks the architecture, the user is responsible for the rest and
must measure the soup (`python -m training.pl_train --export-checkpoint SOUP ...` validates
it and exports a bundle with thresholds chosen on its own predictions).

    python -m training.soup RUN_A/checkpoints/best.ckpt RUN_B/checkpoints/best.ckpt --out soup.ckpt

An ingredient may also be a bundle folder. A soup of the bundle a run was fine-tuned from
(`pl_train --init-bundle`) and that run's checkpoint interpolates between the two weights, as
WiSE-FT does (Wortsman et al., CVPR 2022), which tends to keep more of the starting model's
robustness to distribution shift than the fine-tuned end point alone.
"""

from __future__ import annotations

import logging
import pickle
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from configs.cli import Command
from configs.studies import SoupSettings
from models.bundle.io import META_FILE, BundleError, load_bundle

log = logging.getLogger(__name__)


# The training module holds its FusionNet as `net`, so checkpoint keys carry this prefix.
NET_PREFIX = "net."


class SoupError(ValueError):
    """The checkpoints cannot be averaged; the message says which and why."""


def load_state_dict(path: Path) -> tuple[dict[str, torch.Tensor], int]:
    """Tensors and epoch of one Lightning checkpoint or bundle, without unpickling anything.

    Args:
        path: a Lightning checkpoint, or a bundle folder (its weights are keyed as the
            training module holds them, under `net.`; its epoch counts as 0).

    Returns:
        (state dict, epoch).

    Raises:
        SoupError: unreadable file or no `state_dict`.
    """
    if path.is_dir() or path.name == META_FILE:
        try:
            bundle = load_bundle(path)
        except BundleError as err:
            raise SoupError(str(err)) from None
        return {f"{NET_PREFIX}{k}": v for k, v in bundle.model.state_dict().items()}, 0
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError, pickle.UnpicklingError) as err:
        raise SoupError(f"{path}: not a readable checkpoint ({str(err).splitlines()[0]})") from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise SoupError(f"{path}: no 'state_dict' in this checkpoint")
    return ckpt["state_dict"], int(ckpt.get("epoch", 0))


def average_state_dicts(states: Sequence[dict[str, torch.Tensor]],
                        names: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
    """Uniform average of state dicts with identical keys and shapes.

    Floating-point tensors (weights, batch-norm statistics) are averaged in float64 and cast
    back; integer tensors (batch-norm step counters) take the maximum.

    Args:
        states: two or more state dicts.
        names: labels for error messages (e.g. file names), same length as `states`.

    Returns:
        The averaged state dict.

    Raises:
        SoupError: fewer than two inputs, or keys, shapes or dtypes differ.
    """
    names = list(names or [f"state {i}" for i in range(len(states))])
    if len(states) < 2:
        raise SoupError("a soup needs at least two checkpoints")
    ref, ref_name = states[0], names[0]
    for state, name in zip(states[1:], names[1:], strict=True):
        if state.keys() != ref.keys():
            diff = sorted(set(state) ^ set(ref))[:5]
            raise SoupError(f"{name} and {ref_name} have different parameters (e.g. {diff}): "
                            "only runs of the same architecture can be averaged")
        for key, tensor in state.items():
            if tensor.shape != ref[key].shape or tensor.dtype != ref[key].dtype:
                raise SoupError(f"{name}: {key} is {tuple(tensor.shape)} {tensor.dtype}, but "
                                f"{tuple(ref[key].shape)} {ref[key].dtype} in {ref_name}")
    out: dict[str, torch.Tensor] = {}
    for key, tensor in ref.items():
        stack = torch.stack([s[key] for s in states])
        if tensor.is_floating_point():
            out[key] = stack.double().mean(dim=0).to(tensor.dtype)
        else:
            out[key] = stack.max(dim=0).values
    return out


def make_soup(paths: Sequence[Path], out: Path) -> Path:
    """Average checkpoints into a new checkpoint that `pl_train --export-checkpoint` reads.

    Args:
        paths: two or more checkpoints of runs fine-tuned from the same initialisation, or
            bundle folders (e.g. that initialisation itself).
        out: file to write.

    Returns:
        `out`.
    """
    states, epochs = zip(*(load_state_dict(Path(p)) for p in paths), strict=True)
    soup = average_state_dicts(states, [str(p) for p in paths])
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": soup, "epoch": max(epochs),
                "soup_of": [str(p) for p in paths]}, out)
    log.info("Averaged %d checkpoints (%d tensors) into %s", len(paths), len(soup), out)
    return out


def _make(s: SoupSettings) -> Path:
    return make_soup(s.checkpoints, s.out)


COMMAND = Command(SoupSettings, _make, bad_input=(SoupError,), writes_to=lambda s: s.out,
                  errors="log")
main = COMMAND.main

if __name__ == "__main__":
    sys.exit(main())
