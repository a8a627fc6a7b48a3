"""Your own videos as a dataset: what ``python -m vid2vid prepare KIND`` is made of.

    source.py        decoding (PyAV) or frame folders, --fps resampling, resize or centre crop (Fit)
    dataset.py       sequences, shot cuts, the train / test split, train.yaml (DatasetWriter)
    edges.py         Canny edge maps: 1 channel
    face.py          dlib landmarks -> 14 part curves + distance maps + background edges: 15 channels
    pose.py          OpenPose JSON or Keypoint R-CNN -> skeleton renderings (+ DensePose IUV): 3 or 6
    segmentation.py  label maps you have, or a Cityscapes-style folder: label ids (+ instances)

Every kind yields :class:`~vid2vid.prepare.dataset.Sample` objects (input map, frame, optional
instance map and keypoints) that :class:`~vid2vid.prepare.dataset.DatasetWriter` writes in the
official layout (:mod:`vid2vid.data.layout`). Input maps of 1 or 3 channels are PNGs, others
``.npy`` files holding ``uint8 [H, W, C]`` (:func:`~vid2vid.prepare.dataset.write_input_map`).
The command (:mod:`vid2vid.commands.prepare`) runs the kinds, then the flow command's code.
"""
