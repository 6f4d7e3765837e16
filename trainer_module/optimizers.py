"""Each head's optimizer, made from its spec (one instance per head: own
slots, own step counter, own learning rate)."""

from __future__ import annotations

import tf_keras

from trainer_module.training_spec import Optimizer

_OPTIMIZERS = {
    "adam": tf_keras.optimizers.Adam,
    "sgd": tf_keras.optimizers.SGD,
    "adagrad": tf_keras.optimizers.Adagrad,
    "rmsprop": tf_keras.optimizers.RMSprop,
}


def make_optimizer(spec: Optimizer, name: str) -> tf_keras.optimizers.Optimizer:
    return _OPTIMIZERS[spec.name](learning_rate=spec.learning_rate, name=name)
