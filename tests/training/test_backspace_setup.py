"""`ImitationTrainer` is the one place `<bksp>` joins the vocabulary (before any row is tokenised, with the
embeddings resized) and where rows holding `<bksp>` are checked, from the CLI and the Python API alike."""

import pytest
from datasets import Dataset

from imitlm import ImitationTrainer
from imitlm.errors import UserError

from training.helpers import tiny_config, tiny_setup


def test_bksp_joins_the_vocabulary_once_with_its_embedding_row(tmp_path):
    config = tiny_config(tmp_path, objective="mle_bksp")
    model, tokenizer, rows = tiny_setup(config)
    trainer = ImitationTrainer(model=model, args=config, train_dataset=rows, processing_class=tokenizer)
    tokenizer, bksp = trainer.processing_class, trainer.bksp_id
    assert tokenizer.convert_ids_to_tokens(bksp) == "<bksp>" and tokenizer.all_special_tokens.count("<bksp>") == 1
    assert trainer.model.get_input_embeddings().weight.shape[0] == len(tokenizer)
    assert trainer.model.config.bksp_token_id == bksp


def test_python_api_rows_whose_bksp_would_delete_the_prompt_are_refused(tmp_path):
    config = tiny_config(tmp_path, objective="mle_bksp")
    model, tokenizer, _ = tiny_setup(config)
    bksp = len(tokenizer)  # the id the trainer gives <bksp>
    rows = Dataset.from_dict({"prompt_ids": [[5, 6]], "completion_ids": [[bksp, 7, tokenizer.eos_token_id]]})
    rows = rows.add_column("example_index", [0])
    with pytest.raises(UserError, match="would delete a prompt token"):
        ImitationTrainer(model=model, args=config, train_dataset=rows, processing_class=tokenizer)
