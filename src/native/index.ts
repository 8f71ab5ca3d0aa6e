export { describePins, PINS, pinsVersionKey } from './pins.js';
export {
  type Libc,
  type NativeTarget,
  type NativeTargetKey,
  nativeTarget,
  SUPPORTED_TARGETS,
} from './platform.js';
export {
  type DuckDB,
  loadDuckDB,
  loadOnnxRuntime,
  type NativeEngineInfo,
  type NativeEnginesInfo,
  NativeLoader,
  type NativeLoaderOptions,
  type NativeRoute,
  nativeEnginesInfo,
  type OnnxRuntime,
} from './resolve.js';
