"""Inside the model: what a network has learned, apart from any one image (docs/methods.md, "Inside the model").

class_model.py, the image most like a class (Simonyan et al. 2014; Olah et al. 2017); features.py, a layer's
feature maps for an image; filters.py, the input each filter responds to most; patches.py, the image patches that
excite a filter most; layers.py, the layers offered and their receptive fields; ascent.py, the gradient ascent they
share; statistics.py, the mean training image; pictures.py, grids and strips for the pages and the command line.
"""
