"""The founding note's example 1, as written, logged for lstm-top.

Watch it while it trains, in another terminal:   lstm-top runs/keras_stagnating.jsonl

Random inputs, random targets, LSTM(64) + Dense(1), Adam 1e-3, 50 epochs: there is nothing to
learn, so whatever the training loss gains is memorised noise and the validation loss cannot
follow. Only the callback line is added to the note's code (and Keras 3 imports).
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
parser.add_argument("--out", default="runs/keras_stagnating.jsonl")
parser.add_argument("--epochs", type=int, default=50)
args = parser.parse_args()

# Dummy Data
X_train = np.random.rand(1000, 20, 10)  # 1000 samples, sequence length 20, input dimension 10
y_train = np.random.rand(1000, 1)
X_val = np.random.rand(200, 20, 10)
y_val = np.random.rand(200, 1)

# Model Definition
model = Sequential([
    Input(shape=(20, 10)),
    LSTM(64),
    Dense(1),
])

# Model Compilation
model.compile(optimizer=Adam(learning_rate=0.001), loss="mse")

# Model Training with explicit validation loss logging
history = model.fit(X_train, y_train, epochs=args.epochs, batch_size=32,
                    validation_data=(X_val, y_val),
                    callbacks=[LstmTopCallback(args.out, run_name="keras: note example 1")])
