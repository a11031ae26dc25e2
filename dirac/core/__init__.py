"""The enhancement machinery, below the user API: the network (``model``), the diffusers
scheduler that owns late start and the steps (``scheduler``), the dial's sampling loop
(``sampler``), tiling, rates, pixel conversion and the pipeline that joins them."""
