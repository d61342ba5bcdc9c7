"""The columns of a sweep's results.csv: written by ``chipsim.sweep``, read by the sweep
figures (``report.sweep_plots``); here so that neither imports the other."""

ID_COLUMNS = ("point", "hash")
METRIC_COLUMNS = ("test_accuracy", "chance_accuracy", "energy_per_inference_pJ",
                  "energy_per_train_sample_pJ", "energy_table", "sram_used_bits",
                  "latency_cycles_per_step", "seconds", "status", "error")
