"""Evaluation of the warning signs against corpora with known answers.

``python -m lstm_top.evaluation`` prints per sign precision, recall, F1, false alarms on healthy
runs and the lead over Keras' EarlyStopping(patience=10). A development tool: it reads the
corpora from the source tree (tests/corpus, tests/fixtures), not from an installed package.
"""
