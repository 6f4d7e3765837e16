"""Models trained in-process on one pipeline run's transformed data."""

from __future__ import annotations

import numpy as np
import tensorflow_transform as tft
from sklearn.metrics import roc_auc_score

from bench.common import Prepared, Timer
from pipeline.config import PipelineConfig
from trainer_module import data
from trainer_module.model import MultiHeadModel, build_model
from trainer_module.run import input_columns, seed_everything, set_label_scales
from trainer_module.stopping import EarlyStopper
from trainer_module.training import TrainingLoop
from trainer_module.validation import validation_set


def variant(config: PipelineConfig, heads: list[str] | None = None, **training) -> PipelineConfig:
    """A copy of `config` with only `heads` and training fields changed
    (`early_stopping=None`: no head stops early)."""
    raw = config.model_dump()
    if heads is not None:
        raw["heads"] = [h for h in raw["heads"] if h["name"] in heads]
    raw["training"].update(training)
    if raw["training"].get("early_stopping") is None:
        for head in raw["heads"]:
            head["early_stopping"] = None
    return PipelineConfig.model_validate(raw)


class Workbench:
    """The taxi data and its transform graph, ready for training runs."""

    def __init__(self, prep: Prepared):
        self.prep = prep
        self.tft_output = tft.TFTransformOutput(prep.transform_graph)
        self.decode = data.transforming_decoder(self.tft_output)
        self.train_files = data.split_files(prep.raw_examples, "train")
        self.eval_files = data.split_files(prep.raw_examples, "eval")
        scan = data.make_dataset(
            self.train_files, self.decode, prep.config, 4096, shuffle=False, repeat=False
        )
        self.stats = data.scan_labels(scan, prep.config.heads)

    def dataset(self, config: PipelineConfig, seed: int):
        """The trainer's input pipeline: shuffled, repeated training batches
        (early stopping's validation rows are a split of their own)."""
        return data.make_dataset(
            self.train_files,
            self.decode,
            config,
            config.training.batch_size,
            shuffle=True,
            repeat=True,
            seed=seed,
        )

    def batches(self, config: PipelineConfig, seed: int):
        return iter(self.dataset(config, seed))

    def model(self, config: PipelineConfig) -> MultiHeadModel:
        seed_everything(config.training.seed)
        model = build_model(config, input_columns(config, self.tft_output))
        set_label_scales(model, self.stats)
        return model

    def stopping(self, config: PipelineConfig, model: MultiHeadModel):
        """As the trainer does it: the validation split (the eval split's
        first rows without early stopping), the training batches, and the
        stopper (None without early stopping)."""
        validation = validation_set(config, self.decode, self.prep.raw_examples)
        batches = iter(self.dataset(config, config.training.seed))
        if config.training.early_stopping is None:
            return validation, batches, None
        rules = {h.name: config.stopping_rule(h.name) for h in config.heads}
        return validation, batches, EarlyStopper(rules, model.head_variables)

    def train(self, config: PipelineConfig, steps: int) -> tuple[MultiHeadModel, float]:
        model, seconds, _ = self.train_with_report(config, steps)
        return model, seconds

    def train_with_report(
        self, config: PipelineConfig, steps: int
    ) -> tuple[MultiHeadModel, float, dict | None]:
        """Trains `steps` steps at most (early stopping, when configured, as
        the trainer does); returns the model, the fit's seconds and each
        head's early-stopping report."""
        model = self.model(config)
        trainer = TrainingLoop(model, config)
        stopping = config.training.early_stopping
        if stopping is None:
            batches, stopper, validation = self.batches(config, config.training.seed), None, None
        else:
            validation, batches, stopper = self.stopping(config, model)
        with Timer() as timer:
            trainer.fit(
                batches,
                steps,
                stopper=stopper,
                validation=validation.batches if validation else None,
                check_every=stopping.every if stopping else steps,
            )
        return model, timer.seconds, stopper.report() if stopper else None

    def evaluate(self, model: MultiHeadModel, config: PipelineConfig) -> dict[str, dict]:
        """AUC of binary heads, MAE of regression heads, on the eval split."""
        dataset = data.make_dataset(
            self.eval_files, self.decode, config, 1024, shuffle=False, repeat=False
        )
        outputs: dict[str, list] = {h.name: [] for h in config.heads}
        labels: dict[str, list] = {h.name: [] for h in config.heads}
        weights: dict[str, list] = {h.name: [] for h in config.heads}
        for features, label, weight in dataset:
            raw = model(features)
            for head in config.heads:
                outputs[head.name].append(raw[head.name].numpy())
                labels[head.name].append(label[head.name].numpy())
                weights[head.name].append(weight[head.name].numpy())
        result = {}
        for head in config.heads:
            out = np.concatenate(outputs[head.name])
            y = np.concatenate(labels[head.name])
            keep = np.concatenate(weights[head.name]) > 0
            if head.task == "binary":
                result[head.name] = {"auc": float(roc_auc_score(y[keep], out[keep]))}
            else:
                mae = float(np.mean(np.abs(out[keep] - y[keep])))
                result[head.name] = {"mean_absolute_error": mae}
        return result


def head_metric(head_task: str) -> tuple[str, bool]:
    """The metric a benchmark reports for a head, and whether higher is better."""
    return ("auc", True) if head_task == "binary" else ("mean_absolute_error", False)
