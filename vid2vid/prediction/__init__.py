"""Future video prediction: the paper's section 4 ("future video prediction") and Table 3.

The paper decomposes the task: (1) predict the future semantic label maps from the observed ones,
(2) turn them into frames with vid2vid. Table 3 compares that with two networks that predict the
pixels directly, PredNet and MCNet (Cityscapes; FID I3D / ResNeXt: PredNet 11.18 / 0.59, MCNet
10.00 / 0.43, vid2vid 3.44 / 0.18; human preference for vid2vid 0.92 and 0.98).

    labels.py     the label model: s~_t = (1 - m~) * w~(s~_{t-1}) + m~ * softmax(h~) on class
                  probabilities, rolled out autoregressively; instance maps warped along its flow
    future.py     vid2vid on the predicted maps, started from the real past frames
    prednet.py    PredNet (Lotter et al. 2017), CPU-sized
    mcnet.py      MCNet (Villegas et al. 2017), CPU-sized, without its GAN term
    convlstm.py   the ConvLSTM cell both baselines use
    data.py       whole sequences in memory, random training windows
    training.py   one training loop and budget for the three models
    checkpoint.py their file format

Commands: ``python -m vid2vid predict`` (vid2vid's future frames of one sequence),
``reproduce/train_predictor.py`` (train one model), ``reproduce/table3.py`` (the table).
"""

from vid2vid.prediction.checkpoint import build_model, load_predictor, save_predictor
from vid2vid.prediction.future import FuturePrediction, predict_future, synthesize_future
from vid2vid.prediction.labels import LabelPredictor, LabelPredictorConfig, rollout_labels
from vid2vid.prediction.mcnet import MCNet, MCNetConfig
from vid2vid.prediction.prednet import PredNet, PredNetConfig
from vid2vid.prediction.training import PredictionTraining, train_predictor

__all__ = [
    "FuturePrediction", "LabelPredictor", "LabelPredictorConfig", "MCNet", "MCNetConfig", "PredNet",
    "PredNetConfig", "PredictionTraining", "build_model", "load_predictor", "predict_future",
    "rollout_labels", "save_predictor", "synthesize_future", "train_predictor",
]
