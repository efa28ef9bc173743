"""Run by tests under `torchrun --nproc_per_node 2` (gloo, CPU) and in one process for comparison."""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from imitlm.training.trainer import ImitationTrainer  # noqa: E402

from training.helpers import end_worker, tiny_config, tiny_setup  # noqa: E402


def main(preset: str, out: str, batch_size: int, chunk_size: int = 0) -> None:
    chunked = {"chunked_loss": True, "loss_chunk_size": chunk_size} if chunk_size else {"chunked_loss": False}
    config = tiny_config(
        Path(out),
        objective=preset,
        per_device_train_batch_size=batch_size,
        max_steps=3,
        rollout_every=2,
        ddp_backend="gloo" if os.environ.get("WORLD_SIZE") else None,
        **chunked,
    )
    model, tokenizer, data = tiny_setup(config)
    trainer = ImitationTrainer(model=model, args=config, train_dataset=data, processing_class=tokenizer)
    trainer.train()
    result = {
        "losses": [row["loss"] for row in trainer.state.log_history if "loss" in row],
        "world_size": config.world_size,
        "chunk_size": trainer.chunk_size,
        "rollouts": trainer.replay.items if trainer.replay is not None else None,
    }
    Path(out, f"result_{config.process_index}.json").write_text(json.dumps(result))
    end_worker()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), *map(int, sys.argv[4:]))
