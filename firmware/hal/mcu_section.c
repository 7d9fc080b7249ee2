/* Tells simavr the MCU and clock (a section outside flash, stripped from the .hex). */
#include <avr_mcu_section.h>
AVR_MCU(F_CPU, "atmega328p");
