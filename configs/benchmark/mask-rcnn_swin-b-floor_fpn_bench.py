# Benchmark "frozen-backbone floor": the Swin-B backbone is frozen entirely, the neck and heads
# train, and the benchmark makes the input image require grad so that backward still runs through
# the whole backbone (input gradients, no weight gradients): the least any adapter method that
# trains something inside the backbone's first stage can cost.
_base_ = './mask-rcnn_swin-b-full_fpn_bench.py'
benchmark = dict(freeze='backbone', input_grad=True)
