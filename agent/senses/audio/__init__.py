"""The audio sense: a microphone judged by the CNN-LSTM sound classifier."""
