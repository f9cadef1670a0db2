"""The founding note's example 3, logged for lstm-top with its two validation subsets.

Watch it while it trains, in another terminal:   lstm-top runs/keras_subsets.jsonl

Training inputs are shifted by +2 and -2 in two blocks; the held-out 20% is unshifted and split
into two subsets, evaluated after every epoch through ``validation_subsets`` (instead of once at
the end, as in the note). sklearn's train_test_split is replaced by a seeded numpy permutation.
"""

import argparse
import importlib.util
import os

if "KERAS_BACKEND" not in os.environ and importlib.util.find_spec("tensorflow") is None:
    os.environ["KERAS_BACKEND"] = "torch"  # Keras 3 runs on PyTorch when TensorFlow is absent

import numpy as np
from keras.layers import LSTM, Dense, Input
from keras.models import Sequential
from keras.optimizers import Adam

from lstm_top.keras import LstmTopCallback

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out", default="runs/keras_subsets.jsonl")
parser.add_argument("--epochs", type=int, default=50)
args = parser.parse_args()

# Simulate biased data: X_train and X_val will have different underlying means
X = np.random.normal(0, 1, size=(1200, 20, 10))
y = np.random.rand(1200, 1)
order = np.random.default_rng(42).permutation(len(X))  # train_test_split(test_size=0.2)
test, train = order[:240], order[240:]
X_train, X_test, y_train, y_test = X[train], X[test], y[train], y[test]
X_train_bias1 = X_train[0:400] + 2
X_train_bias2 = X_train[400:800] - 2
X_train = np.concatenate((X_train_bias1, X_train_bias2, X_train[800:]), axis=0)
X_val_0 = X_test[0:100]
X_val_1 = X_test[100:]

y_val_0 = y_test[0:100]
y_val_1 = y_test[100:]

# Model Definition
model = Sequential([
    Input(shape=(20, 10)),
    LSTM(64),
    Dense(1),
])

# Model Compilation
model.compile(optimizer=Adam(learning_rate=0.001), loss="mse")

# Model Training, each validation subset evaluated after every epoch
callback = LstmTopCallback(args.out, run_name="keras: note example 3",
                           validation_subsets={"subset_0": (X_val_0, y_val_0),
                                               "subset_1": (X_val_1, y_val_1)})
history = model.fit(X_train, y_train, epochs=args.epochs, batch_size=32, verbose=0,
                    callbacks=[callback])

# Evaluate loss on separate validation subsets:
loss_subset0 = model.evaluate(X_val_0, y_val_0, verbose=0)
loss_subset1 = model.evaluate(X_val_1, y_val_1, verbose=0)

print(f"Validation Loss subset 0: {loss_subset0}")
print(f"Validation Loss subset 1: {loss_subset1}")
