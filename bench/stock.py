"""Stock TFX pieces for benchmark 1: a single-head Keras model trained by the
stock Trainer (`run_fn`), evaluated by the stock Evaluator and pushed by the
stock Pusher; the "one model per task" way of serving several tasks."""

from __future__ import annotations

import functools
import os

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras
from tfx import v1 as tfx

from components.evaluator.eval_config import build_eval_config
from pipeline.config import PipelineConfig
from pipeline.pipeline import CSV_PATTERN, PREPROCESSING_FN
from trainer_module import data
from trainer_module.export import export
from trainer_module.preprocessing import SPEC_KEY
from trainer_module.run import input_columns, seed_everything, set_label_scales
from trainer_module.spec import ModelSpec

HEAD_KEY = "head"
MODEL_SPEC_KEY = "model_spec"


def one_head(config: ModelSpec, head: str) -> ModelSpec:
    """The same config (or spec) with only `head`."""
    return config.model_copy(update={"heads": [config.head(head)]})


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    """Stock Trainer entry point: a single-head Keras model and model.fit."""
    from trainer_module.model import build_model

    config = one_head(
        ModelSpec.from_json(fn_args.custom_config[MODEL_SPEC_KEY]), fn_args.custom_config[HEAD_KEY]
    )
    head = config.heads[0]
    seed_everything(config.training.seed)
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    # Stock Transform writes the transformed examples: parse them as they are.
    decode = functools.partial(tf.io.parse_example, features=tft_output.transformed_feature_spec())
    files = sorted(
        tf.io.gfile.glob(
            fn_args.train_files[0] if len(fn_args.train_files) == 1 else fn_args.train_files
        )
    )
    scan = data.make_dataset(files, decode, config, 4096, shuffle=False, repeat=False)
    model = build_model(config, input_columns(config, tft_output))
    set_label_scales(model, data.scan_labels(scan, config.heads))

    class SingleHead(tf_keras.Model):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def call(self, features, training=False):
            return tf.expand_dims(self.inner(features, training=training)[head.name], -1)

    keras_model = SingleHead(model)
    loss = (
        tf_keras.losses.BinaryCrossentropy(from_logits=True)
        if head.kind.name == "binary"
        else tf_keras.losses.MeanSquaredError()
    )
    keras_model.compile(optimizer=tf_keras.optimizers.Adam(head.optimizer.learning_rate), loss=loss)
    train = data.make_dataset(
        files,
        decode,
        config,
        config.training.batch_size,
        shuffle=True,
        repeat=True,
        seed=config.training.seed,
    ).map(lambda f, labels, weights: (f, tf.expand_dims(labels[head.name], -1), weights[head.name]))
    keras_model.fit(train, steps_per_epoch=fn_args.train_steps, epochs=1, verbose=0)
    export(model, tft_output, config, fn_args.serving_model_dir)


# The stock Trainer has no per-head early stopping: its users fix a step
# count, here the hand-tuned 300 the taxi configs had before early stopping
# (the multi-head pipeline stops each head on its own, at most at its steps).
STOCK_STEPS = 300


def branch(config: PipelineConfig, head: str, transform, example_gen, serving_root: str) -> list:
    """Stock Trainer -> Evaluator -> Pusher for one head."""
    single = one_head(config, head)
    trainer = tfx.components.Trainer(
        run_fn="bench.stock.run_fn",
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        train_args=tfx.proto.TrainArgs(num_steps=STOCK_STEPS),
        eval_args=tfx.proto.EvalArgs(num_steps=config.training.eval_batches),
        custom_config={MODEL_SPEC_KEY: config.model_spec().to_json(), HEAD_KEY: head},
    ).with_id(f"Trainer_{head}")
    evaluator = tfx.components.Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        eval_config=build_eval_config(single.evaluation_spec()),
    ).with_id(f"Evaluator_{head}")
    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(
                base_directory=os.path.join(serving_root, head)
            )
        ),
    ).with_id(f"Pusher_{head}")
    return [trainer, evaluator, pusher]


def stock_pipeline(config: PipelineConfig, heads: list[str], data_dir: str, home: str, name: str):
    """ExampleGen, statistics, schema, one Transform of `heads`, one stock branch per head."""
    transform_spec = config.model_copy(update={"heads": [config.head(h) for h in heads]})
    example_gen = tfx.components.CsvExampleGen(
        input_base=data_dir,
        input_config=tfx.proto.Input(
            splits=[tfx.proto.Input.Split(name="all", pattern=CSV_PATTERN)]
        ),
    )
    statistics = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema = tfx.components.SchemaGen(statistics=statistics.outputs["statistics"])
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"],
        schema=schema.outputs["schema"],
        preprocessing_fn=PREPROCESSING_FN,
        custom_config={SPEC_KEY: transform_spec.transform_spec().to_json()},
    )
    components = [example_gen, statistics, schema, transform]
    for head in heads:
        components += branch(config, head, transform, example_gen, os.path.join(home, "serving"))
    return tfx.dsl.Pipeline(
        pipeline_name=name,
        pipeline_root=os.path.join(home, "pipelines", name),
        components=components,
        enable_cache=False,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            os.path.join(home, "metadata.sqlite")
        ),
        beam_pipeline_args=config.beam_args(),
    )
