"""Optical flow: backward warping (the repository's one flow convention) and the flow-confidence
map, visualisation, and flow estimators behind one interface."""

from vid2vid.flow.estimators import DISFlow, FlowEstimator, GroundTruthFlow, RAFTFlow, get_flow_estimator
from vid2vid.flow.viz import color_wheel, flow_to_color
from vid2vid.flow.warp import base_grid, compose_flows, flow_confidence, warp

__all__ = ["base_grid", "color_wheel", "compose_flows", "flow_confidence", "flow_to_color", "warp"]
__all__ += ["DISFlow", "FlowEstimator", "GroundTruthFlow", "RAFTFlow", "get_flow_estimator"]
