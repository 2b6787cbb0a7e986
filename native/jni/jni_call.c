/*
 * The Java engine's per-request call (runtimes/java/jni.ts): one JNI call into
 * anomaly.host.Host.callDirect with two direct ByteBuffers that wrap Node Buffers, so a request and
 * its answer cross without copies, strings or per-call method lookups. java-bridge still starts the
 * JVM, compiles and loads apps; this addon joins the JVM it created (JNI_GetCreatedJavaVMs) and only
 * carries calls. N-API and JNI only (no V8 headers).
 */
#include <dlfcn.h>
#include <jni.h>
#include <node_api.h>
#include <stdio.h>
#include <string.h>

static JavaVM *vm;
static jclass host;            /* global ref */
static jmethodID call_direct;  /* static int callDirect(int, ByteBuffer, int, ByteBuffer, int, int) */
static jmethodID take_oversize; /* static byte[] takeOversize() */
static jobject in_buffer, out_buffer; /* global refs to the direct ByteBuffers */
static napi_ref in_ref, out_ref;      /* keep the Node Buffers (their memory) alive */

static napi_value fail(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

/* The calling thread's JNIEnv. java-bridge may detach this thread after its own calls, so the
 * env is looked up per call (a thread-local read) and the thread attached again when needed. */
static JNIEnv *jni_env(void) {
  JNIEnv *e = NULL;
  jint rc = (*vm)->GetEnv(vm, (void **)&e, JNI_VERSION_1_8);
  if (rc == JNI_EDETACHED && (*vm)->AttachCurrentThreadAsDaemon(vm, (void **)&e, NULL) != JNI_OK) return NULL;
  return rc == JNI_OK || rc == JNI_EDETACHED ? e : NULL;
}

/* A pending Java exception as a JS error (its toString), cleared. */
static napi_value throw_java(napi_env env, JNIEnv *e, const char *where) {
  jthrowable t = (*e)->ExceptionOccurred(e);
  (*e)->ExceptionClear(e);
  char message[512];
  snprintf(message, sizeof message, "%s: a Java exception escaped", where);
  if (t != NULL) {
    jclass object = (*e)->FindClass(e, "java/lang/Object");
    jmethodID to_string = object ? (*e)->GetMethodID(e, object, "toString", "()Ljava/lang/String;") : NULL;
    jstring s = to_string ? (jstring)(*e)->CallObjectMethod(e, t, to_string) : NULL;
    if ((*e)->ExceptionCheck(e)) (*e)->ExceptionClear(e);
    if (s != NULL) {
      const char *chars = (*e)->GetStringUTFChars(e, s, NULL);
      if (chars != NULL) {
        snprintf(message, sizeof message, "%s: %s", where, chars);
        (*e)->ReleaseStringUTFChars(e, s, chars);
      }
      (*e)->DeleteLocalRef(e, s);
    }
    if (object) (*e)->DeleteLocalRef(e, object);
    (*e)->DeleteLocalRef(e, t);
  }
  return fail(env, message);
}

/* The Host class java-bridge loaded: java-bridge loads the class path through its own class
 * loader, which FindClass (the system loader) does not see; Host publishes itself in the system
 * properties (a Hashtable of objects) when it initializes. */
static jclass find_host(JNIEnv *e) {
  jclass system = (*e)->FindClass(e, "java/lang/System");
  if (system == NULL) return NULL;
  jmethodID get_props = (*e)->GetStaticMethodID(e, system, "getProperties", "()Ljava/util/Properties;");
  jobject props = get_props ? (*e)->CallStaticObjectMethod(e, system, get_props) : NULL;
  jclass hashtable = (*e)->FindClass(e, "java/util/Hashtable");
  jmethodID get = hashtable ? (*e)->GetMethodID(e, hashtable, "get", "(Ljava/lang/Object;)Ljava/lang/Object;") : NULL;
  jstring key = (*e)->NewStringUTF(e, "anomaly.host.Host");
  jobject found = props && get && key ? (*e)->CallObjectMethod(e, props, get, key) : NULL;
  (*e)->DeleteLocalRef(e, system);
  if (props) (*e)->DeleteLocalRef(e, props);
  if (hashtable) (*e)->DeleteLocalRef(e, hashtable);
  if (key) (*e)->DeleteLocalRef(e, key);
  return (jclass)found;
}

/* init(libjvmPath): joins the JVM java-bridge started in this process and finds Host's methods. */
static napi_value init(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  char path[4096];
  size_t len = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok)
    return fail(env, "init(libjvmPath) expects a path");
  if (vm != NULL) return NULL;
  /* RTLD_NOLOAD: only the libjvm java-bridge already loaded (its JVM is the one we join). */
  void *lib = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
  if (lib == NULL) return fail(env, "libjvm is not loaded in this process (start the JVM through java-bridge first)");
  jint (*created)(JavaVM **, jsize, jsize *) = (jint(*)(JavaVM **, jsize, jsize *))dlsym(lib, "JNI_GetCreatedJavaVMs");
  JavaVM *vms[1];
  jsize count = 0;
  if (created == NULL || created(vms, 1, &count) != JNI_OK || count < 1) return fail(env, "no Java VM was created in this process");
  vm = vms[0];
  JNIEnv *e = jni_env();
  if (e == NULL) {
    vm = NULL;
    return fail(env, "attaching the Node thread to the Java VM failed");
  }
  jclass local = find_host(e);
  if (local == NULL) {
    if ((*e)->ExceptionCheck(e)) (*e)->ExceptionClear(e);
    vm = NULL;
    return fail(env, "anomaly.host.Host is not initialized in the Java VM");
  }
  host = (jclass)(*e)->NewGlobalRef(e, local);
  (*e)->DeleteLocalRef(e, local);
  call_direct = (*e)->GetStaticMethodID(e, host, "callDirect", "(ILjava/nio/ByteBuffer;ILjava/nio/ByteBuffer;II)I");
  take_oversize = call_direct ? (*e)->GetStaticMethodID(e, host, "takeOversize", "()[B") : NULL;
  if (take_oversize == NULL) {
    vm = NULL;
    return throw_java(env, e, "Host.callDirect/takeOversize");
  }
  return NULL;
}

/* setBuffers(in, out): the Buffers every later call reads the request from and writes the answer to. */
static napi_value set_buffers(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  void *data[2];
  size_t size[2];
  if (vm == NULL) return fail(env, "init() first");
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) return fail(env, "setBuffers(in, out) expects two Buffers");
  for (int k = 0; k < 2; k++)
    if (napi_get_buffer_info(env, argv[k], &data[k], &size[k]) != napi_ok) return fail(env, "setBuffers(in, out) expects two Buffers");
  JNIEnv *e = jni_env();
  if (e == NULL) return fail(env, "the Node thread is not attached to the Java VM");
  jobject in = (*e)->NewDirectByteBuffer(e, data[0], (jlong)size[0]);
  jobject out = (*e)->NewDirectByteBuffer(e, data[1], (jlong)size[1]);
  if (in == NULL || out == NULL) return throw_java(env, e, "NewDirectByteBuffer");
  if (in_buffer) (*e)->DeleteGlobalRef(e, in_buffer);
  if (out_buffer) (*e)->DeleteGlobalRef(e, out_buffer);
  in_buffer = (*e)->NewGlobalRef(e, in);
  out_buffer = (*e)->NewGlobalRef(e, out);
  (*e)->DeleteLocalRef(e, in);
  (*e)->DeleteLocalRef(e, out);
  if (in_ref) napi_delete_reference(env, in_ref);
  if (out_ref) napi_delete_reference(env, out_ref);
  napi_create_reference(env, argv[0], 1, &in_ref);
  napi_create_reference(env, argv[1], 1, &out_ref);
  return NULL;
}

/* call(id, length, spinMicros, waitMicros) -> the answer's length in out, or -1: too large, takeOversize(). */
static napi_value call(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  int32_t a[4];
  if (in_buffer == NULL) return fail(env, "setBuffers() first");
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4) return fail(env, "call(id, length, spinMicros, waitMicros)");
  for (int k = 0; k < 4; k++)
    if (napi_get_value_int32(env, argv[k], &a[k]) != napi_ok) return fail(env, "call(id, length, spinMicros, waitMicros) expects numbers");
  JNIEnv *e = jni_env();
  if (e == NULL) return fail(env, "the Node thread is not attached to the Java VM");
  jint n = (*e)->CallStaticIntMethod(e, host, call_direct, (jint)a[0], in_buffer, (jint)a[1], out_buffer, (jint)a[2], (jint)a[3]);
  if ((*e)->ExceptionCheck(e)) return throw_java(env, e, "Host.callDirect");
  napi_value result;
  napi_create_int32(env, n, &result);
  return result;
}

/* takeOversize() -> Buffer: the last answer that did not fit the out buffer. */
static napi_value take(napi_env env, napi_callback_info info) {
  (void)info;
  if (vm == NULL) return fail(env, "init() first");
  JNIEnv *e = jni_env();
  if (e == NULL) return fail(env, "the Node thread is not attached to the Java VM");
  jbyteArray bytes = (jbyteArray)(*e)->CallStaticObjectMethod(e, host, take_oversize);
  if ((*e)->ExceptionCheck(e)) return throw_java(env, e, "Host.takeOversize");
  if (bytes == NULL) return fail(env, "no oversize answer is waiting");
  jsize n = (*e)->GetArrayLength(e, bytes);
  void *data;
  napi_value buffer;
  if (napi_create_buffer(env, (size_t)n, &data, &buffer) != napi_ok) {
    (*e)->DeleteLocalRef(e, bytes);
    return fail(env, "allocating the answer failed");
  }
  (*e)->GetByteArrayRegion(e, bytes, 0, n, (jbyte *)data);
  (*e)->DeleteLocalRef(e, bytes);
  return buffer;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"init", NULL, init, NULL, NULL, NULL, napi_default, NULL},
      {"setBuffers", NULL, set_buffers, NULL, NULL, NULL, napi_default, NULL},
      {"call", NULL, call, NULL, NULL, NULL, napi_default, NULL},
      {"takeOversize", NULL, take, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
