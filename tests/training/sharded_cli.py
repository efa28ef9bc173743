"""`imitlm train` for tests under torchrun on CPU; with IMITLM_TEST_CPU_FSDP=1 the Trainer's FSDP path is enabled."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
os.environ.setdefault("DS_ACCELERATOR", "cpu")

import torch  # noqa: E402

from imitlm.cli import main  # noqa: E402

if __name__ == "__main__":
    if os.environ.get("IMITLM_TEST_CPU_FSDP") == "1":
        from training.cpu_sharding import allow_cpu_fsdp

        allow_cpu_fsdp()
    code = main(sys.argv[1:])
    if torch.distributed.is_initialized():  # `imitlm train` closes the group it trained in
        sys.exit("imitlm train returned with the process group still open")
    sys.exit(code)
