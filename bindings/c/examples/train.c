/* Trains a small network from C on images made here, predicts into our own
 * buffer, saves the model, loads it back and checks it predicts the same.
 *
 * Build (from the repository root):
 *   cargo build --release -p fastnn-c
 *   cc -std=c99 bindings/c/examples/train.c -Ibindings/c/include \
 *      target/release/libfastnn.a -lpthread -ldl -lm -o train
 *   ./train model.safetensors
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fastnn.h"

#define ROWS 4
#define COLS 4
#define PIXELS (ROWS * COLS)
#define COUNT 600
#define CLASSES 3

/* Stops with fastnn's message when a call fails. */
static void check(FastnnStatus status, const char *what) {
  if (status != FASTNN_STATUS_OK) {
    fprintf(stderr, "%s failed (status %d): %s\n", what, (int)status,
            fastnn_last_error());
    exit(1);
  }
}

/* Class 0 has ink in the left half, 1 in the right half, 2 in the top
 * half, with some noise. */
static void make_images(uint8_t *pixels, uint8_t *labels) {
  unsigned state = 12345;
  for (size_t i = 0; i < COUNT; i++) {
    uint8_t label = (uint8_t)(i % CLASSES);
    labels[i] = label;
    for (size_t p = 0; p < PIXELS; p++) {
      size_t r = p / COLS, c = p % COLS;
      int ink = label == 0 ? c < COLS / 2 : label == 1 ? c >= COLS / 2 : r < ROWS / 2;
      state = state * 1664525u + 1013904223u;
      pixels[i * PIXELS + p] = (uint8_t)((ink ? 180 : 0) + (state >> 26));
    }
  }
}

static size_t argmax(const float *p, size_t n) {
  size_t best = 0;
  for (size_t k = 1; k < n; k++)
    if (p[k] > p[best]) best = k;
  return best;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s MODEL.safetensors\n", argv[0]);
    return 2;
  }
  static uint8_t pixels[COUNT * PIXELS], labels[COUNT];
  make_images(pixels, labels);

  FastnnEngine *engine = NULL;
  check(fastnn_engine_new(2, &engine), "fastnn_engine_new");

  FastnnTrainSettings settings;
  check(fastnn_train_settings_default(&settings), "fastnn_train_settings_default");
  settings.hidden[0] = 16;
  settings.hidden_len = 1;
  settings.epochs = 4;
  settings.batch_size = 16;
  settings.seed = 7;

  FastnnModel *model = NULL;
  check(fastnn_train_u8(engine, &settings, pixels, labels, COUNT, ROWS, COLS, CLASSES, &model),
        "fastnn_train_u8");

  /* Probabilities of every image, into our own buffer. */
  static float probs[COUNT * CLASSES];
  check(fastnn_predict_u8(engine, model, pixels, COUNT, probs, COUNT * CLASSES),
        "fastnn_predict_u8");
  size_t right = 0;
  for (size_t i = 0; i < COUNT; i++) right += argmax(&probs[i * CLASSES], CLASSES) == labels[i];
  double accuracy = 0, loss = 0;
  check(fastnn_evaluate_u8(engine, model, pixels, labels, COUNT, &accuracy, &loss),
        "fastnn_evaluate_u8");
  printf("fastnn %s: trained %zu-%zu-%zu, accuracy %.4f (%zu of %d right), loss %.4f\n",
         fastnn_version(), fastnn_model_inputs(model), settings.hidden[0],
         fastnn_model_classes(model), accuracy, right, COUNT, loss);
  if (right != (size_t)(accuracy * COUNT + 0.5) || accuracy < 0.95) {
    fprintf(stderr, "unexpected accuracy\n");
    return 1;
  }

  /* Save, load, and predict the same bits. */
  check(fastnn_model_save(model, argv[1]), "fastnn_model_save");
  FastnnModel *loaded = NULL;
  check(fastnn_model_load(argv[1], &loaded), "fastnn_model_load");
  static float again[COUNT * CLASSES];
  check(fastnn_predict_u8(engine, loaded, pixels, COUNT, again, COUNT * CLASSES),
        "fastnn_predict_u8 (loaded)");
  if (memcmp(probs, again, sizeof probs) != 0) {
    fprintf(stderr, "the loaded model predicts differently\n");
    return 1;
  }
  printf("saved to %s and loaded back: the same probabilities\n", argv[1]);

  /* Errors come back as a status and a message, never as a crash. */
  FastnnModel *missing = NULL;
  FastnnStatus status = fastnn_model_load("no-such-model.safetensors", &missing);
  printf("loading a missing file: status %d, \"%s\"\n", (int)status, fastnn_last_error());
  if (status != FASTNN_STATUS_IO || missing != NULL) return 1;
  status = fastnn_predict_u8(engine, model, pixels, COUNT, probs, 10);
  printf("a too small buffer: status %d, \"%s\"\n", (int)status, fastnn_last_error());
  if (status != FASTNN_STATUS_ARGUMENT) return 1;
  labels[0] = CLASSES; /* a label out of range */
  status = fastnn_train_u8(engine, &settings, pixels, labels, COUNT, ROWS, COLS, CLASSES, &missing);
  printf("a label out of range: status %d, \"%s\"\n", (int)status, fastnn_last_error());
  if (status != FASTNN_STATUS_CONFIG || missing != NULL) return 1;

  fastnn_model_free(loaded);
  fastnn_model_free(model);
  fastnn_engine_free(engine);
  return 0;
}
