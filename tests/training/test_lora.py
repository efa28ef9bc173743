"""LoRA (peft) on a tiny saved model: the new <bksp> row trains, and the merged model reloads with its id."""

import torch
from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel, TrainerCallback

from imitlm.models.char_tokenizer import build_char_tokenizer
from imitlm.tasks.arithmetic import ALPHABET
from imitlm.training.parsing import config_from_dict
from imitlm.training.run import train


def test_lora_trains_the_bksp_row(tmp_path):
    tokenizer = build_char_tokenizer(ALPHABET)
    torch.manual_seed(0)
    GPT2LMHeadModel(
        GPT2Config(vocab_size=len(tokenizer), n_layer=1, n_head=2, n_embd=32, n_positions=64)
    ).save_pretrained(tmp_path / "base")
    tokenizer.save_pretrained(tmp_path / "base")
    config = config_from_dict(
        {
            "model_name_or_path": str(tmp_path / "base"),
            "task": "arithmetic",
            "difficulty": 0,
            "num_train_examples": 64,
            "max_length": 48,
            "objective": "mle_bksp",
            "noise_prob": 0.3,
            "use_peft": True,
            "lora_r": 4,
            "lora_target_modules": ["c_attn"],
            "output_dir": str(tmp_path / "out"),
            "use_cpu": True,
            "per_device_train_batch_size": 8,
            "max_steps": 3,
            "learning_rate": 1e-2,
            "save_strategy": "no",
            "report_to": "none",
            "disable_tqdm": True,
        }
    )

    class Capture(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            self.row = model.get_input_embeddings().weight[model.config.bksp_token_id].detach().clone()

    capture = Capture()
    trainer = train(config, callbacks=[capture])
    bksp = trainer.bksp_id
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "out")
    assert merged.config.bksp_token_id == bksp
    start = capture.row
    after = merged.get_input_embeddings().weight[bksp]
    assert not torch.allclose(start, after)
    base_rows = merged.get_input_embeddings().weight[:bksp]
    original = AutoModelForCausalLM.from_pretrained(tmp_path / "base").get_input_embeddings().weight
    torch.testing.assert_close(base_rows, original)  # LoRA left the other embedding rows alone
