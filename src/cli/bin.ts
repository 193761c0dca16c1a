#!/usr/bin/env node
/**
 * The `kafka-delta` executable.
 */
import { main } from "./main.ts"

main()
