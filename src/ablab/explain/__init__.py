"""Explanations of trained classifiers: SHAP values, Grad-CAM and attention maps (`ablab-explain`)."""
