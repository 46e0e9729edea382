# sapsam: `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
STAMPS := .stamps
SYNTH := data/synthetic

.PHONY: install synthetic tiny-weights benchmark lab-sam data demo test \
	clean-demo

install: $(STAMPS)/install

$(STAMPS)/install: requirements/runtime.txt requirements/lab.txt \
		requirements/tests.txt setup.py
	$(PIP) install -q -r requirements/runtime.txt -r requirements/lab.txt \
		-r requirements/tests.txt
	$(PIP) install -q --no-deps --no-build-isolation -e .
	@mkdir -p $(STAMPS) && touch $@

# The procedural synthetic benchmark in the official file formats, tiny
# random weights (SAM, BERT) for the CPU-sized Person-SAM, and the lab's
# transferred encoders (tiny CLIP and SAM pretrained on pedestrians outside
# the benchmark; a rerun with the same arguments returns at once).
benchmark: synthetic tiny-weights

synthetic: install
	$(PYTHON) tools/dataset_converters/generate_synthetic.py --out $(SYNTH) --no-progress

tiny-weights: install
	$(PYTHON) tools/misc/make_tiny_weights.py --out $(SYNTH)/weights

# The tiny SAM's pretraining reads no benchmark file (its identities are
# planned from the seed), so the demo runs it while the benchmark renders.
lab-sam: tiny-weights
	$(PYTHON) tools/misc/pretrain_lab_encoders.py --out $(SYNTH)/weights --stages sam

data: benchmark
	$(PYTHON) tools/misc/pretrain_lab_encoders.py --out $(SYNTH)/weights

# The demo pretrains the tiny SAM beside the benchmark's rendering and the
# tiny CLIP in its baseline lane, beside Person-SAM's training (the same
# weights as `make data`).
demo: install
	$(MAKE) -j2 synthetic lab-sam
	$(PYTHON) tools/misc/run_demo.py --data $(SYNTH) --work-dir work_dirs/demo

test: install
	$(PYTHON) -m pytest tests

clean-demo:
	rm -rf work_dirs/demo
