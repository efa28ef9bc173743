"""Lets tests run the Trainer's real FSDP2 path on CPU processes (gloo).

accelerate turns `fsdp` on only for accelerators: with `use_cpu` it keeps plain data parallel (imitlm refuses
that, see `trainer.check_parallelism`). After accelerate's own set-up we switch the shared state to FSDP with
the plugin the Trainer built, which is what accelerate does on GPUs. From there on everything is the libraries'
own code: `fully_shard` with DTensor parameters, full-state-dict saving, sharded optimizer checkpoints.
DeepSpeed needs nothing of this: accelerate enables it with `use_cpu` (DeepSpeed's CPU accelerator uses gloo).
Test-only: on a machine with GPUs nothing of this is needed.
"""

from __future__ import annotations

import accelerate.state
from accelerate.utils import DistributedType

_original_init = accelerate.state.AcceleratorState.__init__


def _init_allowing_cpu_fsdp(self, *args, fsdp_plugin=None, **kwargs):
    _original_init(self, *args, fsdp_plugin=fsdp_plugin, **kwargs)
    if fsdp_plugin is not None and self.distributed_type == DistributedType.MULTI_CPU:
        self.distributed_type = DistributedType.FSDP
        self.fsdp_plugin = fsdp_plugin
        accelerate.state.PartialState._shared_state["distributed_type"] = self.distributed_type  # as accelerate does


def allow_cpu_fsdp() -> None:
    accelerate.state.AcceleratorState.__init__ = _init_allowing_cpu_fsdp
