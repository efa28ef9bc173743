"""`imitlm bench`: what imitation learning costs against MLE and Hugging Face generation, side by side.

One process, one tiny GPT-2 (ratio 5: a 2-layer Llama at real vocabulary sizes), the library's own code paths;
each measurement repeated and summarised by its median and spread. Names of the ratios in the JSON (stable):

- ``train_step_ratio/<preset>``: a training step per token over the ``mle`` step (ratio 1, ``train_step``);
- ``generation_throughput_ratio``: ``generate_with_backspace`` tokens/s over ``model.generate``
  (ratio 2, ``generation``);
- ``online_wallclock_ratio/<preset>``, ``rollout_share/<preset>``: online training runs over an ``mle`` run
  (ratio 3, ``online``);
- ``peak_memory_ratio/<variant>``: peak memory of a step over an ``mle`` step (ratio 4, ``memory``);
- ``scaling/...``: ratios 1 and 2 across batch sizes and lengths;
- ``memory_ratio/il_chunked_vs_{mle_full,mle_chunked}/vocabV``, ``train_step_ratio/il_chunked_vs_mle_chunked/vocabV``:
  a `sequencematch` step with the chunked loss on a 2-layer Llama-shaped model at vocabulary 32000 and 128256 against
  MLE with full logits and with chunked cross-entropy (ratio 5, ``large_vocab``).

`runner.run_bench` runs them all, writes the JSON and prints a table; ``memory`` reuses ``train_step``'s batches.
"""
