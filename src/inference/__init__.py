"""Using a trained model: the predictor (MindSpore, onnxruntime, MINDIR), explanations,
predict.py's input and output, the page, export, and the 310 flow's CPU stand-ins."""
