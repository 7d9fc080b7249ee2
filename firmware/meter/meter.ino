// Nguvu keypad prepayment meter for the Arduino Uno. All the work is in app/ (portable C over
// hal/hal.h) and core/ (the STS token decoder); this sketch only hands control to it.
#include "app.h"

void setup() { app_setup(); }

void loop() { app_loop(); }
